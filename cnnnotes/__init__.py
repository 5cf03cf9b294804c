"""cnnnotes: the small helper package that the CNN Notes chapters import.

One module per idea: ``data`` (FashionMNIST offline), ``shapes`` (size and
parameter formulas), ``ops`` (from-scratch convolution and pooling), ``check``
(self-checks for exercises), ``repro`` (seeds and devices), ``viz`` (figures),
``models`` and ``train``. Importing the package imports none of them.
"""

__version__ = "0.1.0"
