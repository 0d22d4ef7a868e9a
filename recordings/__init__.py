"""Recorded webcam, audio and screen streams, stored encrypted. (Built in the recording issue.)"""
