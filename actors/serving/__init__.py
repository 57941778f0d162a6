"""Shared inference: a server actor evaluates the leaf batches of many self-play workers on one device.

- `InferenceConfig` (config.py): how many servers, their device and batch size.
"""
