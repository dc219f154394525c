"""Pure emptyDir audit: pod specs, node facts and usage samples in; records and findings out."""
