"""The paper's system: meta-learning and few-shot fine-tuning of neural talking heads.

Zakharov et al. 2019, "Few-Shot Adversarial Learning of Realistic Neural Talking Head
Models" (arXiv 1905.08233). Stages, each a module and a ``talkinghead-studio train``
subcommand:

  cache.py      preprocess: videos -> sharded cache of face crops + MediaPipe landmarks.
  episodes.py   K+1 frames per video per episode, indexed by training step.
  rasterize.py  landmarks -> coloured landmark image (also used inside the ONNX graph).
  networks.py   embedder E, generator G (AdaIN from P e), projection discriminator D.
  losses.py     content (VGG19/VGGFace or a pixel fallback), hinge + feature matching, match.
  meta.py       the meta-learning loop (Adam, AMP, checkpoints, CSV logs, torchrun/DDP).
  finetune.py   few-shot fine-tuning from psi' = P e_hat and w' = w0 + e_hat.
  export.py     fine-tuned generator -> ONNX under the generator contract.
  cli.py        the `train` subcommands (hooked into talkinghead_studio/cli.py).

Support: config.py (frozen settings), objectives.py (one G / one D update), vgg.py
(perceptual networks, user-supplied weights), runtime.py (devices, AMP, torchrun,
checkpoint files, CSV logs), samples.py (progress contact sheets), metrics.py (L1,
SSIM), errors.py. How to run each stage at full scale: README.md in this folder.

torch lives only in the optional extra ``train``; the app never imports this package,
and nothing here imports torch at package import time (cli.py imports it lazily).
"""
