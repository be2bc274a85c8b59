"""rostersync's own cfn-lint rules (run with `cfn-lint --append-rules infra/cfn-rules`).

They hold the template to what a district trusts us with: every store of roster data encrypted
and private, and every function limited to the resources it needs. cfn-lint runs them on the
template after the SAM transform, so SAM policy templates are checked as the IAM they become.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# Actions that are never allowed on "*" (data-plane access to roster stores).
DATA_PREFIXES = ("s3:", "sqs:", "dynamodb:", "ssm:", "secretsmanager:", "kms:")
# Actions AWS only offers on "*" (or that read no roster data).
STAR_OK = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}


def _as_list(v):
    return v if isinstance(v, list) else [v]


class StorageEncrypted(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Roster stores are encrypted and private"
    description = (
        "S3 buckets have default encryption and block all public access; SQS queues use SSE; "
        "DynamoDB tables have SSE and point-in-time recovery"
    )
    tags = ["rostersync", "encryption"]

    def match(self, cfn):
        out = []
        for name, res in cfn.get_resources(["AWS::S3::Bucket"]).items():
            props = res.get("Properties", {}) or {}
            enc = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
            if not enc:
                out.append(RuleMatch(["Resources", name], f"{name}: bucket without default encryption"))
            pab = props.get("PublicAccessBlockConfiguration", {}) or {}
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
                if pab.get(k) is not True:
                    out.append(RuleMatch(["Resources", name], f"{name}: PublicAccessBlockConfiguration.{k} must be true"))
        for name, res in cfn.get_resources(["AWS::SQS::Queue"]).items():
            props = res.get("Properties", {}) or {}
            if not (props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId")):
                out.append(RuleMatch(["Resources", name], f"{name}: queue without server-side encryption"))
        for name, res in cfn.get_resources(["AWS::DynamoDB::Table"]).items():
            props = res.get("Properties", {}) or {}
            if (props.get("SSESpecification", {}) or {}).get("SSEEnabled") is not True:
                out.append(RuleMatch(["Resources", name], f"{name}: table without SSESpecification.SSEEnabled"))
            pitr = props.get("PointInTimeRecoverySpecification", {}) or {}
            if pitr.get("PointInTimeRecoveryEnabled") is not True:
                out.append(RuleMatch(["Resources", name], f"{name}: table without point-in-time recovery"))
        return out


class LeastPrivilege(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "IAM statements are least-privilege"
    description = (
        "No Allow statement grants '*' actions or a whole service ('s3:*'), and no data-plane "
        "action (S3, SQS, DynamoDB, SSM, Secrets Manager, KMS) applies to Resource '*'"
    )
    tags = ["rostersync", "iam"]

    def _statements(self, cfn):
        for name, res in cfn.get_resources(["AWS::IAM::Role"]).items():
            for i, pol in enumerate((res.get("Properties", {}) or {}).get("Policies", []) or []):
                doc = pol.get("PolicyDocument", {}) or {}
                for j, st in enumerate(_as_list(doc.get("Statement", []))):
                    yield ["Resources", name, "Properties", "Policies", i, "PolicyDocument", "Statement", j], st
        for name, res in cfn.get_resources(["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]).items():
            doc = (res.get("Properties", {}) or {}).get("PolicyDocument", {}) or {}
            for j, st in enumerate(_as_list(doc.get("Statement", []))):
                yield ["Resources", name, "Properties", "PolicyDocument", "Statement", j], st

    def match(self, cfn):
        out = []
        for path, st in self._statements(cfn):
            if not isinstance(st, dict) or st.get("Effect") != "Allow":
                continue
            actions = [a for a in _as_list(st.get("Action", [])) if isinstance(a, str)]
            resources = _as_list(st.get("Resource", []))
            for a in actions:
                if a == "*" or a.endswith(":*"):
                    out.append(RuleMatch(path, f"wildcard action {a!r}: list the actions the function needs"))
            if "*" in resources:
                for a in actions:
                    if a.startswith(DATA_PREFIXES) and a not in STAR_OK:
                        out.append(RuleMatch(path, f"{a} on Resource '*': scope it to the stack's bucket, queue, table or parameters"))
        return out
