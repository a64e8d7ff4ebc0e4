"""Schemathesis against the operations API served locally (src/local/api-server.ts).

Every generated request is SigV4-signed like the CLI's; no response may be a server error or
break openapi.yaml. Run by test/integration/schemathesis.test.ts, which starts the server.
"""

import os
from urllib.parse import urlsplit

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from schemathesis.specs.openapi.checks import missing_required_header

BASE_URL = os.environ["FLEETGATE_API_URL"]
CREDENTIALS = Credentials(os.environ["FLEETGATE_ACCESS_KEY_ID"], os.environ["FLEETGATE_SECRET_ACCESS_KEY"])

schema = schemathesis.openapi.from_path(os.environ["FLEETGATE_OPENAPI"])
schema.config.update(base_url=BASE_URL)


class SigV4(requests.auth.AuthBase):
    """Signs the prepared request, so the signature covers exactly what is sent."""

    def __call__(self, request):
        signed = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body or b"",
            headers={"host": urlsplit(request.url).netloc},
        )
        SigV4Auth(CREDENTIALS, "execute-api", "us-east-1").add_auth(signed)
        request.headers["Authorization"] = signed.headers["Authorization"]
        request.headers["X-Amz-Date"] = signed.headers["X-Amz-Date"]
        return request


@schema.parametrize()
def test_operations_api(case):
    # API Gateway's IAM authorisation answers an unsigned request 403, not the 401 this check
    # expects; the integration tests assert the 403 themselves.
    case.call_and_validate(auth=SigV4(), excluded_checks=[missing_required_header])
