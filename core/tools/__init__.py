"""Commands over the pipeline: offline animation, benchmarks, the doctor."""
