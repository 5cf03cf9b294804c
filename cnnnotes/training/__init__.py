"""FashionMNIST with PyTorch (chapters 1, 8–13).

* ``data``: FashionMNIST found offline first, and the IDX file format;
* ``split``: the fixed, stratified validation split of the training set;
* ``augment``: input normalisation and cheap batch augmentations;
* ``models``: the book's models, by name;
* ``loop``: the training loop (``train_epoch``, ``fit``: training and validation metrics
  per epoch, never the test set), evaluation and prediction;
* ``schedule``: the learning-rate schedules ``fit`` steps, as PyTorch objects;
* ``recipes``: named recipes (a model plus how it trains), the three splits, and the
  once-per-run test report with its binomial standard error;
* ``study``: the compared rows (one change against a named parent), their summaries over
  seeds, the choice by validation and the verdict against seed noise;
* ``baseline``: the original notes' loop, as written, for side-by-side timings;
* ``checkpoint``: weights plus everything needed to predict;
* ``cache``: trained models cached on disk, keyed by everything that changes a result;
* ``quantize``: eight-bit weights with one scale per row (how the reference stays small);
* ``reference``: the reference model shipped with the package (``recorded/``);
* ``results``: recorded results of long runs, with their provenance;
* ``images``: any picture made into the models' input (28×28 grey, light on black);
* ``cli`` and ``predict``: the ``train`` and ``predict`` commands of ``python -m cnnnotes``.
"""
