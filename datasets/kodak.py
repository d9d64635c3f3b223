"""The Kodak PhotoCD test set: 24 PNG images of 768x512 or 512x768 pixels.

The images are the ones distributed by Rich Franzen at r0k.us; the SHA-256 of
each file is part of the project so that any copy (a local folder, the cache,
a download) is verified before it is used.
"""

from __future__ import annotations

NAME = "kodak"

URL_TEMPLATE = "http://r0k.us/graphics/kodak/kodak/{file_name}"

SHA256 = {
    "kodim01.png": "6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f",
    "kodim02.png": "1788370471429d992750a09caf6702ac74e56962447de02520d4b161738c0369",
    "kodim03.png": "b9c800ee568f0b18c983817df08d9f7f24a7ddb3abfdc31bde9234c4fde83137",
    "kodim04.png": "0c60c62599ad33fd78b29c36013fbe4120946f6c327c0ef0ec6983297fb48d23",
    "kodim05.png": "ccf694ceb6bbf431e0009ed0d5573a8ff0915095b69ddfb527b91d8325897f5e",
    "kodim06.png": "f4212cc927d1d579c712843cf8320c7eccb571e5ea80456022ffe99d67e9cd5d",
    "kodim07.png": "7cdd6d63ae0a245f6f9d983d740e11c6808c2efc24f8351aad9b5f676c27b55a",
    "kodim08.png": "5a6a089bdb47605287c00d89ebf2a5312981eb998c94b5853d917c93a9066cdb",
    "kodim09.png": "4d8d801592aeaf446978bbd1c83b76c498242d0f684769311a4e7248289500bf",
    "kodim10.png": "7aca487dc83db732a5690b7affe8558e9dadf5bb44a4589ba2b607480a07228b",
    "kodim11.png": "c7c02bd6e942d1181518e3ce2d97cf0451e4494a5e9d6ddee276940e4875d746",
    "kodim12.png": "df571f5e66d1aefd764ea77855e81e3be61528c34962a0fd1d50557502162c1e",
    "kodim13.png": "797949ce1152ef157ff0a1231c95cb8ed7641615e0b0f5f77f851a44aee19e8d",
    "kodim14.png": "08a1898d5702f32e7d9f94a94651d74a62cb9325475775a558b388c8d98f1846",
    "kodim15.png": "416c475f39b0eb9203ce7f77d2af8824f5bffc1a86a4605865017f04c41639b9",
    "kodim16.png": "5d03303693decdf7a1e1e930b5ca6684283aa80a9e7d8d6a842a74fa5f790640",
    "kodim17.png": "19d90e98e5835efae20a6e17e22e5ac6814ee2c8efb32d188ea4359abaf9f5bd",
    "kodim18.png": "83df267dfec61e9b9d3756c422502160b2fab595650c73a8b12940540ad09ec5",
    "kodim19.png": "86560efe85a13413b228ef7e42dde0d439b25a94fb8e2d6fb1dc1631cf48853b",
    "kodim20.png": "1ae187d92b3a4483b6717f7fd08592846ffdfc340c6424f6756627a27f3d8ea7",
    "kodim21.png": "26e193795108c4b5ec47206ae4ff07a353d2492947f7a7ae8d380e042b74027b",
    "kodim22.png": "627b76fccf714b4ddffb739b2eb63ba2817cf5b5a8e222079542dcf2cfdda939",
    "kodim23.png": "85c67d7ea758cb0604fb6980ab0c65091a2eefa7b3b50cbb1bc702a60206dfe5",
    "kodim24.png": "9f1c26df52217bd49f998a720a2ffeba41a535cf826f4ae32e355fb2b0bbc0fe",
}
