"""Self-checks for the exercises: call a learner's function, compare with PyTorch.

Every ``check_*`` function returns a short message and never prints. The cases
are a fixed grid (or fixed seeds), so the same function always gets the same
message. On failure the message shows ONE concrete case and what was expected there;
if the learner's function raises, the message says so, with the case.
"""

from cnnnotes.check.backprop import check_cross_entropy_grad, check_max_pool_backward
from cnnnotes.check.calibration import check_ece, check_temperature
from cnnnotes.check.conv_backward import check_conv2d_backward
from cnnnotes.check.convolution import check_1x1_as_linear, check_corr2d, check_edge_kernel
from cnnnotes.check.core import check_answer, compare
from cnnnotes.check.embedding import check_pca
from cnnnotes.check.looking import check_grad_cam, check_occlusion, check_saliency
from cnnnotes.check.optim import check_momentum_steps
from cnnnotes.check.receptive import check_receptive_field
from cnnnotes.check.scores import check_macro_f1, check_standard_error
from cnnnotes.check.sizes import (
    check_conv_transpose_size,
    check_output_size,
    check_param_count,
)
from cnnnotes.check.tensors import (
    check_avg_pool2d,
    check_conv2d,
    check_normalize,
    check_pool2d,
    check_to_tensor,
)
from cnnnotes.check.training import check_accumulate_step, check_train_loop

__all__ = [
    "check_1x1_as_linear",
    "check_accumulate_step",
    "check_answer",
    "check_avg_pool2d",
    "check_conv2d",
    "check_conv2d_backward",
    "check_conv_transpose_size",
    "check_corr2d",
    "check_cross_entropy_grad",
    "check_ece",
    "check_edge_kernel",
    "check_grad_cam",
    "check_macro_f1",
    "check_max_pool_backward",
    "check_momentum_steps",
    "check_normalize",
    "check_occlusion",
    "check_output_size",
    "check_param_count",
    "check_pca",
    "check_pool2d",
    "check_receptive_field",
    "check_saliency",
    "check_standard_error",
    "check_temperature",
    "check_to_tensor",
    "check_train_loop",
    "compare",
]
