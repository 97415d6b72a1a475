"""Fusion models: precomputed per-modality features in, one prediction per target out.

May import models/ (the encoders), media/ and the leaf modules; never flask, batching/,
store/, services/ or anything above them. Nothing is re-exported, on purpose: importing this
package must not import torch, so a server can run an exported model with onnxruntime alone.

    features    the encoder interface: ModalitySpec, FeatureEncoder, collate   (numpy)
    data        TargetSpec, FeatureDataset (.npz files), Split, make_split      (numpy)
    metrics     accuracy, P/R/F1, confusion, ROC/AUC, MAE/RMSE/R2               (numpy)
    runtime     OnnxFusion predictor, decode                           (onnxruntime)
    artifact    save_artifact, read_manifest, load_model, load_predictor
    batch       FeatureBatch: tensors + masks                                  (torch)
    layers, pooled, attention, late    the strategies' modules
    strategies  STRATEGIES: name -> (config dataclass, module)
    model       FusionConfig, FusionModel, predict, TorchFusion
    train       TrainConfig, train, evaluate
    compare     compare: every strategy and single-modality baselines on one split
    report      build_report, write_report (JSON + self-contained HTML)  (matplotlib)
    export      export_onnx, quantize_int8, parity, compare_int8
    synthetic   make_xor_dataset: a task only fusion can solve
"""
