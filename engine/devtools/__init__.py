"""Developer tooling, outside the product: the benchmark suites (`bench`), the security
suite (`security`) and `airlock bench` (`cli`). It imports the product; the product never
imports it (import-linter checks both ways)."""
