"""`iotsql check` as a library: the findings about topic rules in statements, `.sql` files and
infrastructure code (CloudFormation and SAM, serverless.yml, Terraform, AWS CLI JSON), each
with a stable code, a severity and its place in the file, and the outputs (text, JSON, GitHub
workflow annotations, SARIF).

    from pathlib import Path
    from iotsql.lint import Options, check
    report = check([Path("infra/")], Options())
    for finding in report.findings:
        print(finding.file, finding.line, finding.column, finding.code, finding.message)
"""

from iotsql.lint.codes import CODES, Code
from iotsql.lint.config import ConfigError, Options
from iotsql.lint.findings import Finding
from iotsql.lint.runner import Report, Statement, check

__all__ = ["CODES", "Code", "ConfigError", "Finding", "Options", "Report", "Statement", "check"]
