"""Looking at a network (chapters 5, 10–11).

* ``summary``: a layer table: shapes, parameters, multiply-adds, memory, receptive field;
* ``metrics``: the confusion matrix and what it gives (precision, recall, top-k);
* ``features``: feature maps, top-activating images, filter statistics;
* ``saliency``: what the network looks at: gradient saliency, occlusion, Grad-CAM;
* ``sanity``: checks a saliency map can fail: model randomisation, deletion;
* ``calibration``: reliability bins, expected calibration error, temperature scaling,
  macro-F1;
* ``embedding``: PCA from scratch, a 2-D picture of learned features.
"""
