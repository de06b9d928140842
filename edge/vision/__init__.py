"""Cameras and on-device inference: audience, attention and dwell (frames never leave the
device). `detection` is the contract between the models (edge/vision/models/) and the
pipeline that tracks people and measures attention."""
