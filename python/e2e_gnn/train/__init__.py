"""Training (needs torch): a small trainer, checkpoints, metrics and plots."""

from e2e_gnn.train.checkpoint import load_checkpoint, save_checkpoint
from e2e_gnn.train.metrics import roc_auc, roc_curve
from e2e_gnn.train.trainer import predict_logits, train

__all__ = ["load_checkpoint", "predict_logits", "roc_auc", "roc_curve", "save_checkpoint", "train"]
