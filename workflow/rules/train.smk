# One job per grid cell, for every network. Every parameter that changes a
# run's result is in its output path, and the job reads its parameters back
# from that path (mnist_lr_batch.train), so the two cannot disagree.
#
# What differs between networks (conda env, code inputs) comes from one table,
# mnist_lr_batch.networks.REGISTRY, through the {network} wildcard; per-network
# cluster resources live in profiles/slurm. The decoded data is `ancient`: it
# is a deterministic decoding of checksum-verified files, so re-decoding it
# (say, after deleting resources/) must not retrain every cell.


rule train:
    input:
        mnist=ancient("resources/mnist.npz"),
        code=training_code,
    output:
        run=grid.RUN_PATTERN,
    log:
        grid.LOG_PATTERN,
    benchmark:
        grid.BENCHMARK_PATTERN
    priority: run_priority
    conda:
        network_env
    threads: 1
    resources:
        local_cpus=local_cpus,
    shell:
        "python -m mnist_lr_batch.train --mnist {input.mnist} --output {output.run} "
        "--threads {threads} 2> {log}"
