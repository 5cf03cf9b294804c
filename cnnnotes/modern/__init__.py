"""The modern toolbox, from scratch and checked against PyTorch (the modern-CNN chapters).

* ``batchnorm``: batch normalisation, train and eval modes, running averages, and its
  backward pass by hand;
* ``init``: the variance argument, Kaiming (He) initialisation, and activation variance
  measured through depth;
* ``decay``: weight decay as L2 in Adam's gradient against decoupled decay (AdamW);
* ``schedules``: learning-rate schedules as pure functions of the step (one-cycle with
  its momentum cycling, cosine, linear warm-up);
* ``smoothing``: cross-entropy with label smoothing, and its gradient;
* ``blocks``: global average pooling, the residual block, depthwise-separable
  convolution;
* ``cost``: parameter and MAC formulas of grouped, depthwise-separable and residual
  layers;
* ``architectures``: LeNet-5, a small VGG, NiN with a GAP head, a small ResNet (and its
  plain twin), and the notes' CNN with a GAP head;
* ``report``: what the chapter prints and draws from them: sources without docstrings,
  block-level layer tables, signals through a deep net, the study's rows against their cost.

The validation split that every choice in these chapters reads is
:mod:`cnnnotes.training.split`.
"""
