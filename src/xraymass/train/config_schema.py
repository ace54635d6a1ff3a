"""Config sections of the training stage: `model` (build_model) and `train` (train_fold). See docs/train.md."""
from ..schema import Key

SECTIONS = {
    "model": {
        "filters": Key(list, [16, 32, 64], "filters of the three 3x3 convolutions", item=int, length=3, lo=1, hi=4096),
        "kernel_size": Key(int, 3, "convolution kernel side", lo=1, hi=15),
        "pool_size": Key(int, 2, "max-pooling size and stride", lo=1, hi=8),
        "dense": Key(list, [200, 100, 20], "hidden dense layers before the output", item=int, lo=1, hi=100_000),
        "dropout": Key(float, 0.1, "dropout after global pooling and after the first dense layer", lo=0.0, hi=0.9),
        "padding": Key(str, "same", "convolution padding (the paper does not say)", choices=("same", "valid")),
        "input_scaling": Key(str, "log1p", "counts -> network input (the paper does not say)",
                             choices=("log1p", "none", "asinh")),
        "output_bias": Key(str, "label_mean", "initial bias of the output unit: the mean training label, or zero "
                           "(the paper does not say; from zero, Adam at 5e-4 spends many epochs only reaching ~14)",
                           choices=("label_mean", "zero")),
        "precision": Key(str, "float32", "layer precision: float32 (the paper), or a mixed policy with float32 "
                         "weights, input scaling and output unit: mixed_bfloat16 (CPUs with AVX-512 BF16 or AMX, "
                         "GPUs from Ampere on), mixed_float16 (older GPUs, with loss scaling); docs/train.md",
                         choices=("float32", "mixed_bfloat16", "mixed_float16")),
    },
    "train": {
        "learning_rate": Key(float, 5e-4, "Adam learning rate", lo=1e-8, hi=1.0),
        "batch_size": Key(int, 32, "global batch size, split over the Horovod ranks (the paper does not say)",
                          lo=1, hi=65536),
        "max_epochs": Key(int, 400, "epochs at most; if the rule's criteria are never met, the rule's fallback is kept "
                          "(paper: the last epoch)", lo=1, hi=100_000),
        "max_abs_delta": Key(float, 0.3, "stopping rule: max |delta| on the validation fold below this", lo=0.0, hi=10.0),
        "max_abs_median": Key(float, 0.02, "stopping rule: |median delta| below this", lo=0.0, hi=10.0),
        "min_slope": Key(float, 0.9, "stopping rule: slope of the fitted line (slope_fit) above this", lo=0.0, hi=10.0),
        "slope_fit": Key(str, "pred_on_true", "the stopping rule's line: log M_pred on log M_true (fails predictions "
                         "shrunk towards the mean), or log M_true on log M_pred (the paper's words read literally; "
                         "passes shrunk predictions, docs/train.md)", choices=("pred_on_true", "true_on_pred")),
        "rule": Key(str, "patience", "which epoch is kept: 'paper', the first that meets the three criteria (else the "
                    "last); 'patience', the eligible epoch (three criteria and min_span) of lowest validation loss "
                    "within `patience` epochs of the first eligible one (else a fallback, docs/train.md)",
                    choices=("paper", "patience")),
        "patience": Key(int, 10, "rule 'patience': epochs trained on after the first eligible epoch", lo=0, hi=100_000),
        "min_span": Key(float, 0.8, "rule 'patience': least span ratio (range of predicted over range of true log M "
                        "on the validation fold) of an eligible epoch; recorded, not used, by rule 'paper'",
                        lo=0.0, hi=10.0),
        "shuffle_buffer": Key(int, 2048, "tf.data shuffle buffer (images)", lo=1, hi=10_000_000),
        "scale_lr_with_ranks": Key(bool, False, "Horovod's linear scaling: batch_size per rank and the learning rate "
                                   "times the ranks (false: the single-GPU reproduction at any number of ranks)"),
        "seed": Key(int, 0, "training seed offset (combined with run.seed and the fold)", lo=0, hi=2**31 - 1),
        "deterministic": Key(bool, True, "TensorFlow op determinism: a resumed run repeats an uninterrupted one exactly"),
        "members": Key(int, 1, "networks trained per fold, each from its own seed (an ensemble for the per-cluster "
                       "uncertainty, docs/results.md); array task t trains fold t // members, member t % members; "
                       "1 = the paper's single network", lo=1, hi=100),
        "checkpoints_kept": Key(int, 2, "latest per-epoch checkpoints kept in train/fold_KK/checkpoints "
                                "(the kept epochs' checkpoints are also kept, under pinned/)", lo=1, hi=1000),
    },
}


def feature_map_side(npix: int, n_layers: int, kernel_size: int, pool_size: int, padding: str) -> int:
    """Side of the last feature map: each layer is a convolution (`valid` loses kernel_size - 1) then a pooling."""
    side = npix
    for _ in range(n_layers):
        side = side - (kernel_size - 1) if padding == "valid" else side
        if side < 1:
            return 0
        side //= pool_size
    return side


def _stamp_fits_network(cfg: dict) -> str | None:
    m, npix = cfg["model"], cfg["stamps"]["npix"] if "stamps" in cfg else None
    if npix is None:
        return None
    side = feature_map_side(npix, len(m["filters"]), m["kernel_size"], m["pool_size"], m["padding"])
    if side < 1:
        return (f"'stamps.npix' = {npix} is too small for the network: {len(m['filters'])} convolutions of "
                f"'model.kernel_size' = {m['kernel_size']} ('model.padding' = {m['padding']!r}) each followed by "
                f"pooling of 'model.pool_size' = {m['pool_size']} leave no pixel")
    return None


# cross-key rules: functions of the whole validated config, returning one line or None
RULES = (_stamp_fits_network,)
