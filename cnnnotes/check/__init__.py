"""Self-checks for the exercises: call a learner's function, compare with PyTorch.

Every ``check_*`` function returns a short message and never prints. The cases
are a fixed grid (or fixed seeds), so the same function always gets the same
message. On failure the message shows ONE concrete case and PyTorch's answer;
if the learner's function raises, the message says so, with the case.
"""

from cnnnotes.check.backprop import (
    check_conv2d_backward,
    check_cross_entropy_grad,
    check_max_pool_backward,
)
from cnnnotes.check.core import check_answer, compare
from cnnnotes.check.sizes import (
    check_conv_transpose_size,
    check_output_size,
    check_param_count,
    check_pool_size,
    check_receptive_field,
)
from cnnnotes.check.tensors import check_conv2d, check_normalize, check_pool2d, check_to_tensor
from cnnnotes.check.training import check_train_loop

__all__ = [
    "check_answer",
    "check_conv2d",
    "check_conv2d_backward",
    "check_conv_transpose_size",
    "check_cross_entropy_grad",
    "check_max_pool_backward",
    "check_normalize",
    "check_output_size",
    "check_param_count",
    "check_pool2d",
    "check_pool_size",
    "check_receptive_field",
    "check_to_tensor",
    "check_train_loop",
    "compare",
]
