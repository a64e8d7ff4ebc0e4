"""Starts ministack with one correction that makes its IoT Core closer to AWS, and on loopback only.

AWS IoT Core authorises an MQTT session with the policies attached to the certificate *and* the
policies of the thing groups of the Thing the certificate is attached to (when the client id is
the Thing name), parent groups included. ministack 1.5 evaluates only the certificate's own
policies. fleetgate attaches its device policy to a thing group at deployment, so without this
correction every device would be refused on the emulator while it is accepted by AWS. The
correction adds exactly AWS's rule and nothing more lenient: no group policy applies unless the
Thing named by the client id exists, is attached to the certificate, and is in the group.

It refuses what IoT Core refuses and ministack lets through: a REVOKED certificate stays REVOKED
(UpdateCertificate answers CertificateStateException), so no test can pass by reviving one.

It also serves iot-data DeleteConnection, which ministack 1.5 lacks and fleetgate calls to drop a
revoked or suspended device at once: the live session of the client id is closed (404 when there
is none), authorised on the client's ARN as AWS does.

It runs just-in-time provisioning (JITP), which ministack 1.5 does not: when a device's first
connect registers its certificate PENDING_ACTIVATION under a CA whose registrationConfig names a
template (a JITP template by name, or a body and role), the template is applied as AWS does, with
the parameters AWS fills from the certificate's subject (AWS::IoT::Certificate::CommonName, ...,
::Id), through ministack's own RegisterThing machinery (the provisioning role is evaluated under
AUTH=true). A declared parameter the subject lacks fails it, and the certificate stays
PENDING_ACTIVATION. The registered event is published first, as on any auto-registration; the
registry events of what the template made (a Thing created) follow, when they are turned on.

Two more changes keep the emulator on the ports it is given: its MQTT listener binds BIND_HOST
instead of every interface, and with USE_SSL it does not also take port 443.

It answers fleet provisioning's CreateCertificateFromCsr over MQTT
(`$aws/certificates/create-from-csr/json`), which ministack 1.5 lacks though it serves the API call
and CreateKeysAndCertificate over MQTT: the device's CSR is signed by ministack's CA (the same
signing and refusals as its CreateCertificateFromCsr API), the certificate is PENDING_ACTIVATION
with an ownership token that lives an hour, and the answer is `{certificateId, certificatePem,
certificateOwnershipToken}` on `/accepted`; a payload without a CSR, or a CSR refused, answers on
`/rejected` (`InvalidPayload`; AWS does not document the code for a refused CSR).

Usage: python launch.py   (ministack's own environment variables configure it)
"""

import asyncio
import json
import os
import re
import secrets
import time
from urllib.parse import unquote

import ministack.app as app
import ministack.core.iam_actions as iam_actions
import ministack.services.iot as iot
import ministack.services.iot_data as iot_data
from ministack.core.responses import error_response_json, get_account_id, get_region, json_response
from ministack.core.responses import request_scope

_certificate_policies_allow = iot._mqtt_policy_allows


def _group_chain(name):
    """The group and its ancestors, nearest first."""
    seen = []
    while name and name not in seen and name in iot._thing_groups:
        seen.append(name)
        name = (iot._thing_groups.get(name) or {}).get("thingGroupMetadata", {}).get("parentGroupName")
    return seen


def _thing_group_policy_documents(account_id, region, certificate_id, thing_name):
    with request_scope(account_id, region):
        certificate = iot._certificates.get(certificate_id) or {}
        thing = iot._things.get(thing_name) if thing_name else None
        if thing is None or iot._thing_arn(thing_name) not in certificate.get("attachedThings", []):
            return []
        targets = {
            iot._thing_group_arn(group)
            for direct in thing.get("thingGroupNames", [])
            for group in _group_chain(direct)
        }
        return [
            policy["versions"][policy["defaultVersionId"]]["document"]
            for policy in iot._policies.values()
            if targets.intersection(policy.get("targets", []))
        ]


def _mqtt_policy_allows(account_id, region, certificate_id, context, action, resource, provisioning_template=None):
    if _certificate_policies_allow(
        account_id, region, certificate_id, context, action, resource, provisioning_template
    ):
        return True
    if provisioning_template is not None:
        return False
    documents = _thing_group_policy_documents(
        account_id, region, certificate_id, context.get("iot:connection.thing.thingname")
    )
    if not documents:
        return False
    ctx = iot.EvalContext(
        principal_arn=f"arn:aws:iot:{region}:{account_id}:cert/{certificate_id}",
        principal_type="Certificate",
        principal_account=account_id,
        action=action,
        resource_arn=f"arn:aws:iot:{region}:{account_id}:{resource}",
        region=region,
        service_context=context,
    )
    variables = tuple(sorted(context.items()))
    statements = [iot._parsed_iot_policy(document, variables) for document in documents]
    return iot.evaluate(ctx, statements).decision == "Allow"


iot._mqtt_policy_allows = _mqtt_policy_allows

_handle_certificate = iot._handle_certificate


def _handle_certificate_keeping_revocations(method, path, body, qp):
    if method == "PUT":
        record = iot._certificates.get(path[len("/certificates/"):]) or {}
        target = iot._parse_body(body).get("newStatus") or qp.get("newStatus")
        if record.get("status") == "REVOKED" and target != "REVOKED":
            return error_response_json(
                "CertificateStateException", "Certificate is revoked and cannot change status", 406
            )
    return _handle_certificate(method, path, body, qp)


iot._handle_certificate = _handle_certificate_keeping_revocations

_CONNECTION = re.compile(r"^/connections/([^/]+)$")
_resource_arn = iam_actions.extract_resource_arn


def _resource_arn_with_connections(service, method, path, headers, body, query_params, region, account_id):
    match = _CONNECTION.match(path) if service in ("iot", "iot-data") else None
    if match:
        return f"arn:aws:iot:{region}:{account_id}:client/{unquote(match.group(1))}"
    return _resource_arn(service, method, path, headers, body, query_params, region, account_id)


iam_actions.extract_resource_arn = _resource_arn_with_connections
_handle_data_request = iot_data.handle_request


async def _handle_data_request_with_connections(method, path, headers, body, query_params):
    match = _CONNECTION.match(path)
    if method != "DELETE" or not match:
        return await _handle_data_request(method, path, headers, body, query_params)
    key = (get_account_id(), get_region(), unquote(match.group(1)))
    session = iot._connected_clients.get(key)
    if session is None:
        return error_response_json("ResourceNotFoundException", f"No connection for client id {key[2]}", 404)
    session._forced_disconnect_reason = "API_INITIATED_DISCONNECT"
    try:
        await session._send({"type": "websocket.close", "code": 1000})
    except Exception:
        pass
    await session.cleanup()
    iot._connected_clients.pop(key, None)
    return json_response({})


iot_data.handle_request = _handle_data_request_with_connections

_publish_registered = iot._publish_certificate_registered

# The subject fields JITP hands to a template, as AWS names them.
_SUBJECT_PARAMETERS = {
    "2.5.4.3": "CommonName",
    "2.5.4.5": "SerialNumber",
    "2.5.4.6": "Country",
    "2.5.4.8": "StateName",
    "2.5.4.10": "Organization",
    "2.5.4.11": "OrganizationalUnit",
    "2.5.4.46": "DistinguishedNameQualifier",
}


def _subject_parameters(certificate_pem):
    from cryptography import x509

    subject = x509.load_pem_x509_certificate(certificate_pem.encode()).subject
    parameters = {}
    for attribute in subject:
        name = _SUBJECT_PARAMETERS.get(attribute.oid.dotted_string)
        if name and isinstance(attribute.value, str):
            parameters.setdefault(f"AWS::IoT::Certificate::{name}", attribute.value)
    return parameters


def _jitp_template(config):
    name = config.get("templateName")
    if name:
        template = iot._provisioning_templates.get(name)
        return template if template and template.get("type") == "JITP" and template.get("enabled") else None
    body = config.get("templateBody")
    if not body:
        return None
    return {
        "templateName": "jitp",
        "versions": {"1": {"templateBody": body}},
        "defaultVersionId": 1,
        "provisioningRoleArn": config.get("roleArn") or "",
    }


async def _publish_registered_then_provision(account_id, region, record, source_ip, registration_timestamp):
    await _publish_registered(account_id, region, record, source_ip, registration_timestamp)
    with request_scope(account_id, region):
        ca = iot._ca_certificates.get(record["caCertificateId"]) or {}
        template = _jitp_template(ca.get("registrationConfig") or {})
        certificate = iot._certificates.get(record["certificateId"])
        if template is None or certificate is None or certificate.get("status") != "PENDING_ACTIVATION":
            return
        try:
            parameters = _subject_parameters(certificate["certificatePem"])
            plan = iot._provisioning_plan(template, parameters, certificate["certificateId"])
            # Registry events (a Thing created) go out as after any registry write.
            async with iot.publishing_events():
                await iot._apply_provisioning_plan(plan, certificate, template.get("provisioningRoleArn") or "")
        except iot._ProvisioningRejected as rejected:
            iot._mtls_logger.warning(
                "IoT JITP: template %s not applied to %s: %s",
                template["templateName"],
                certificate["certificateId"],
                rejected.reply,
            )


iot._publish_certificate_registered = _publish_registered_then_provision

_FLEET_CSR_TOPIC = "$aws/certificates/create-from-csr/json"
_parse_fleet_provisioning_topic = iot._parse_fleet_provisioning_topic
_fleet_provisioning_reply = iot._fleet_provisioning_reply


def _parse_fleet_provisioning_topic_with_csr(topic):
    if topic == _FLEET_CSR_TOPIC:
        return "create-from-csr", None
    return _parse_fleet_provisioning_topic(topic)


async def _fleet_create_certificate_from_csr(account_id, region, payload):
    """CreateCertificateFromCsr over MQTT: the device's CSR signed, PENDING_ACTIVATION, with an ownership token."""
    try:
        request = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        request = None
    csr = request.get("certificateSigningRequest") if isinstance(request, dict) else None
    if not isinstance(csr, str) or not csr:
        return iot._fleet_rejected("InvalidPayload", "Message cannot be parsed")
    try:
        ca_cert_pem, ca_key_pem = iot._ensure_ca()
        cert_pem = await asyncio.to_thread(iot.sign_certificate_request, ca_cert_pem, ca_key_pem, csr)
    except ValueError:
        # The API's words for a CSR that does not parse or verify, or carries a key IoT Core refuses.
        return iot._fleet_rejected("InvalidPayload", "CSR violates constraints")
    except RuntimeError as e:
        return iot._fleet_rejected("InternalFailure", str(e), 500)
    cert_id = iot.get_certificate_id(cert_pem)
    token = secrets.token_urlsafe(48)
    with request_scope(account_id, region):
        iot._certificates[cert_id] = iot._certificate_record(cert_id, cert_pem, "PENDING_ACTIVATION")
        iot._drop_expired(iot._ownership_tokens)
        iot._ownership_tokens[token] = {
            "certificateId": cert_id,
            "expiration": time.time() + iot._OWNERSHIP_TOKEN_SECONDS,
        }
    return "accepted", {"certificateId": cert_id, "certificatePem": cert_pem, "certificateOwnershipToken": token}


async def _fleet_provisioning_reply_with_csr(account_id, region, operation, template_name, payload, connection):
    if operation == "create-from-csr":
        return await _fleet_create_certificate_from_csr(account_id, region, payload)
    return await _fleet_provisioning_reply(account_id, region, operation, template_name, payload, connection)


iot._parse_fleet_provisioning_topic = _parse_fleet_provisioning_topic_with_csr
iot._fleet_provisioning_reply = _fleet_provisioning_reply_with_csr

_create_server = asyncio.BaseEventLoop.create_server


async def _create_server_on_bind_host(self, protocol_factory, host=None, port=None, *args, **kwargs):
    if protocol_factory is iot._MtlsAcceptor:
        host = os.environ.get("BIND_HOST", "127.0.0.1")
    return await _create_server(self, protocol_factory, host, port, *args, **kwargs)


asyncio.BaseEventLoop.create_server = _create_server_on_bind_host
app._port_is_bindable = lambda _host, _port: False

if __name__ == "__main__":
    from ministack.app import main

    main()
