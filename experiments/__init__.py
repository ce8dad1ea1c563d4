"""Experiment modules that regenerate the tables and figures of Cao & Gong (ACSAC 2017)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
