# On a cluster these run on the login node: compute nodes often have no internet,
# and neither step is worth a queue slot.
localrules:
    fetch_mnist,
    decode_mnist,


rule fetch_mnist:
    output:
        "resources/mnist/{name}",
    log:
        "logs/fetch_mnist/{name}.log",
    conda:
        "../../envs/numpy.yaml"
    params:
        mirrors=mirror_arguments,
        settings=fetch_settings,
    shell:
        "python -m mnist_lr_batch.fetch --name {wildcards.name} --output {output} "
        "{params.mirrors} {params.settings} 2> {log}"


rule decode_mnist:
    input:
        train_images="resources/mnist/train-images-idx3-ubyte",
        train_labels="resources/mnist/train-labels-idx1-ubyte",
        test_images="resources/mnist/t10k-images-idx3-ubyte",
        test_labels="resources/mnist/t10k-labels-idx1-ubyte",
    output:
        "resources/mnist.npz",
    log:
        "logs/decode_mnist.log",
    conda:
        "../../envs/numpy.yaml"
    shell:
        "python -m mnist_lr_batch.idx --train-images {input.train_images} "
        "--train-labels {input.train_labels} --test-images {input.test_images} "
        "--test-labels {input.test_labels} --output {output} 2> {log}"
