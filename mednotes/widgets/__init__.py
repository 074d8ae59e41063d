"""Interactive explorers for the notebooks, each with a static twin for the website.

A widget needs a running Python kernel to react; the website has none. So every explorer
comes in two forms: ``*_explorer`` (ipywidgets, for Jupyter and Colab) and ``*_animation``
(precomputed frames in a JavaScript player that moves on a static page).

One module per explorer; the shared pieces are :func:`animation_html` (the offline frame
player for static twins) and, in :mod:`mednotes.viz`, the house style of every figure.
"""

from mednotes.widgets.activations import activation_animation, activation_explorer
from mednotes.widgets.downsampling import downsampling_animation, downsampling_explorer
from mednotes.widgets.gradcam import grad_cam_animation, grad_cam_explorer
from mednotes.widgets.gradients import (
    gradient_profile_animation,
    gradient_profile_explorer,
)
from mednotes.widgets.normalization import batch_size_animation, batch_size_explorer
from mednotes.widgets.overlap import overlap_animation, overlap_explorer
from mednotes.widgets.player import animation_html
from mednotes.widgets.schedules import schedule_animation, schedule_explorer
from mednotes.widgets.sliding import correlation_animation, correlation_explorer
from mednotes.widgets.sliding_window import (
    sliding_window_animation,
    sliding_window_explorer,
)
from mednotes.widgets.stain import stain_animation, stain_explorer
from mednotes.widgets.unet_features import unet_feature_animation, unet_feature_explorer
from mednotes.widgets.vessels import (
    vessel_threshold_animation,
    vessel_threshold_explorer,
)
from mednotes.widgets.windowing import window_animation, window_explorer

__all__ = [
    "activation_animation",
    "activation_explorer",
    "animation_html",
    "batch_size_animation",
    "batch_size_explorer",
    "correlation_animation",
    "correlation_explorer",
    "downsampling_animation",
    "downsampling_explorer",
    "grad_cam_animation",
    "grad_cam_explorer",
    "gradient_profile_animation",
    "gradient_profile_explorer",
    "overlap_animation",
    "overlap_explorer",
    "schedule_animation",
    "schedule_explorer",
    "sliding_window_animation",
    "sliding_window_explorer",
    "stain_animation",
    "stain_explorer",
    "unet_feature_animation",
    "unet_feature_explorer",
    "vessel_threshold_animation",
    "vessel_threshold_explorer",
    "window_animation",
    "window_explorer",
]
