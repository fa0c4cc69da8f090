"""mtl_course: the helper library of the multi-task learning course.

    import mtl_course as mc
    device = mc.get_device()
    mc.seed_everything(0)

Sub-packages, in the course's layer order (each imports only from the ones before it):

    device, _io       where to compute, seeding; checksummed files
    metrics           confusion matrices, depth / normal errors, edge F-score, multi-label F1, delta_m
    weighting         loss weighting and gradient combination, one strategy per file
    tasks, data       what to predict (loss, metrics, targets); SyntheticScenes
    models            MultiTaskNet(trunk, heads), build_model, pretrained backbones
    train             plain_step / gradient_step, fit, evaluate, History, checkpoints
    transfer, viz     freezing, L2-SP, feature caching, LP-FT; pictures
    lessons, grading  the lessons' settings and experiments; exercise checks and the grader
"""

from mtl_course.device import get_device, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "__version__"]
