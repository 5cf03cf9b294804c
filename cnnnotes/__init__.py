"""cnnnotes: the small helper package that the CNN Notes chapters import.

A map, one line per part of the course (each subpackage's docstring maps its modules):

* top level, what every chapter imports: ``repro`` (threads, seeds, device, one run's
  randomness), ``report`` (printing that holds on every CPU: verdicts, rounded numbers,
  glue) and ``viz`` (the book's figures);
* ``conv``: the arithmetic of convolution by hand (chapters 2–7): sizes, sliding windows,
  from-scratch ops and their backward passes, dense form, classic kernels, shifts;
* ``learn``: learning by hand (chapters 7–8): losses, optimisers, the notes' network trained
  with the book's own functions;
* ``training``: FashionMNIST with PyTorch (chapters 1, 8–12): data, models, the training
  loop, recipes, checkpoints, the model cache, the reference model, recorded results, and
  the command line (``python -m cnnnotes train|predict|cache``);
* ``modern``: the modern toolbox from scratch (batch norm, initialisation, weight decay,
  schedules, label smoothing, GAP, residual and depthwise-separable blocks, LeNet-5 to
  ResNet), each checked against PyTorch;
* ``analysis``: looking at a trained network (chapters 5, 10–11): layer tables, metrics,
  features;
* ``oracle``: "ours against PyTorch over many cases" (every check cell, sweep, self-check
  and test): ``agree``, the case generators, the standard sweeps;
* ``check``: the learner's self-checks for the exercises.

Importing the package imports none of them. ``_validate`` (argument checks) and ``_io``
(atomic writes) are private helpers shared by all.
"""

__version__ = "0.1.0"
