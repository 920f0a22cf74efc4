"""baclofen-sim: intrathecal baclofen pump versus oral baclofen, a discrete-event risk model."""

__version__ = "0.1.0"
