"""rostersync's own cfn-lint rules: encryption at rest and least-privilege IAM."""
