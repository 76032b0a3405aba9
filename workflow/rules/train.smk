# One job per grid cell per network. Every parameter that changes a run's result
# is in its output path, and the job reads its parameters back from that path
# (mnist_lr_batch.train), so the two cannot disagree.
#
# The decoded data is `ancient`: it is a deterministic decoding of checksum-
# verified files, so re-decoding it (say, after deleting resources/) must not
# retrain every cell.


rule train_custom:
    input:
        mnist=ancient("resources/mnist.npz"),
        code=training_code("custom"),
    output:
        run=for_network(grid.RUN_PATTERN, "custom"),
    log:
        for_network(grid.LOG_PATTERN, "custom"),
    benchmark:
        for_network(grid.BENCHMARK_PATTERN, "custom")
    priority: run_priority
    conda:
        "../../envs/numpy.yaml"
    threads: 1
    resources:
        local_cpus=local_cpus,
    shell:
        "python -m mnist_lr_batch.train --mnist {input.mnist} --output {output.run} "
        "--threads {threads} 2> {log}"


rule train_sklearn:
    input:
        mnist=ancient("resources/mnist.npz"),
        code=training_code("sklearn"),
    output:
        run=for_network(grid.RUN_PATTERN, "sklearn"),
    log:
        for_network(grid.LOG_PATTERN, "sklearn"),
    benchmark:
        for_network(grid.BENCHMARK_PATTERN, "sklearn")
    priority: run_priority
    conda:
        "../../envs/sklearn.yaml"
    threads: 1
    resources:
        local_cpus=local_cpus,
    shell:
        "python -m mnist_lr_batch.train --mnist {input.mnist} --output {output.run} "
        "--threads {threads} 2> {log}"


rule train_keras:
    input:
        mnist=ancient("resources/mnist.npz"),
        code=training_code("keras"),
    output:
        run=for_network(grid.RUN_PATTERN, "keras"),
    log:
        for_network(grid.LOG_PATTERN, "keras"),
    benchmark:
        for_network(grid.BENCHMARK_PATTERN, "keras")
    priority: run_priority
    conda:
        "../../envs/tensorflow.yaml"
    threads: 1
    resources:
        local_cpus=local_cpus,
    shell:
        "python -m mnist_lr_batch.train --mnist {input.mnist} --output {output.run} "
        "--threads {threads} 2> {log}"
