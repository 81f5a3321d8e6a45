"""Infrastructure as code (Pulumi): the central platform and each contract's environment.

One program, :func:`gereedschapskist.infra.program.run`, a function of one typed stack configuration
(:mod:`.config`). It plans first (:mod:`.plan`: partner, EU region, machines and GPUs from the catalogue — every
refusal happens here, before any resource exists), then builds through the partner's recipe
(:mod:`.partners`, one module per cloud provider) and the cloud-neutral Kubernetes parts (:mod:`.workbench`,
:mod:`.platform`, :mod:`.services`).
"""
