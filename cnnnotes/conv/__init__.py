"""The arithmetic of convolution, by hand (chapters 2–7).

* ``shapes``: output sizes (convolution, transposed convolution, pooling), parameter counts,
  multiply-adds, receptive field and jump;
* ``sliding``: where a sliding window goes: placements, padding modes, cells covered;
* ``ops``: convolution and pooling from scratch, matching ``torch.nn.functional``
  (``conv2d_loops`` is the loop a learner reads; ``conv2d`` the fast window form);
* ``backprop``: their backward passes, and the transposed convolution (also as an ordinary
  convolution of the zero-stuffed input);
* ``dense``: a convolution written as the dense layer it is, and the locally connected layer
  (local connectivity without weight sharing);
* ``kernels``: classic image-processing kernels;
* ``shift``: translation experiments;
* ``_windows`` (private): the windows of a batch, shared by ``ops`` and ``backprop``.
"""
