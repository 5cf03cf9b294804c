"""Looking at a network (chapters 5, 10–11).

* ``summary``: a layer table: shapes, parameters, multiply-adds, memory, receptive field;
* ``metrics``: the confusion matrix and what it gives (precision, recall, top-k);
* ``features``: feature maps, top-activating images, filter statistics.
"""
