"""RecurringJob: a Kubernetes operator that launches every occurrence of a schedule exactly once."""

__version__ = "0.1.0"

GROUP = "recurringjob.dev"
VERSION = "v1alpha1"
PLURAL = "recurringjobs"
KIND = "RecurringJob"
