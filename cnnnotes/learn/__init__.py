"""Learning, by hand (chapters 7–8).

* ``losses``: softmax and cross-entropy, with its gradient;
* ``optim``: SGD with momentum and Adam on plain lists of tensors;
* ``notes_by_hand``: the notes' network trained with nothing but the book's own forward and
  backward functions.
"""
