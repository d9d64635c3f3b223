"""bench: runs a codec over a dataset at several lambdas (or qualities), resumably.

Library: `bench.runner` (settings -> jobs -> results), `bench.jobs`,
`bench.schedule` (local loky workers or a Dask cluster), `bench.execute` (one
job in a worker), `bench.rows` and `bench.collect` (result rows and TSVs).
Command line: `bench.cli.main`, run as `coolchic bench`.
"""
