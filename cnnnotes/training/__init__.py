"""FashionMNIST with PyTorch (chapters 1, 8–12).

* ``data``: FashionMNIST found offline first, and the IDX file format;
* ``split``: the fixed, stratified validation split of the training set;
* ``augment``: input normalisation and cheap batch augmentations;
* ``models``: the book's models, by name;
* ``loop``: the training loop (``train_epoch``, ``fit``), evaluation and prediction;
* ``recipes``: named recipes (a model plus how it trains);
* ``baseline``: the original notes' loop, as written, for side-by-side timings;
* ``checkpoint``: weights plus everything needed to predict;
* ``cache``: trained models cached on disk, keyed by everything that changes a result;
* ``reference``: the reference model shipped with the package (``recorded/``);
* ``results``: recorded results of long runs, with their provenance;
* ``images``: any picture made into the models' input (28×28 grey, light on black);
* ``cli`` and ``predict``: the ``train`` and ``predict`` commands of ``python -m cnnnotes``.
"""
