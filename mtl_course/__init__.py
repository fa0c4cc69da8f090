"""mtl_course: the helper library of the multi-task learning course.

    import mtl_course as mc
    device = mc.get_device()
    mc.seed_everything(0)

Sub-modules, in the order the course meets them: data, tasks, models, train, metrics, viz.
"""

from mtl_course.device import get_device, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "__version__"]
