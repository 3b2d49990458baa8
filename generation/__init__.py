"""Tools that work inside a generating decoder (needs `pip install lec-onnx[export]`), built on the LEC pipeline
(`lec_onnx.export`: models, probes), which never imports them:

guard (classify while generating: a response probe read after every token, the prompt gate at prefill) ←
response_probe (fitting the guard's probes); sae, sae_train → steering (Top-k SAE clamps, difference-of-means
addition) → steering_eval (refusal, over-refusal and capability under steering) ← refusal_judge (a second
refusal judge, an LEC probe on the answers' states). `commands/`: generate, sae, steer-eval.
"""
