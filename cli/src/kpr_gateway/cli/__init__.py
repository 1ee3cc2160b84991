"""kprgw: the operator and developer command line of KPR Gateway."""
