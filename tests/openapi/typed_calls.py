"""Calls an integrator would write with the client openapi-python-client generated from the
committed document: imported and built, not sent. Fails if an operation or a model is missing."""

from passerelle_api_client import AuthenticatedClient, Client
from passerelle_api_client.api.public import check_balance
from passerelle_api_client.api.schemes import create_scheme
from passerelle_api_client.api.reimbursements import reimbursements_sepa
from passerelle_api_client.models import BalanceQuery, CreateScheme, PresetDto

scheme = CreateScheme(code="ticket-net-2027", name="Ticket Net 2027", preset=PresetDto.TICKET_NET)
assert scheme.to_dict()["preset"] == "ticket-net", scheme.to_dict()
query = BalanceQuery(reference="LOT-7K4M-Q2XP", last_name="Martin")
assert query.to_dict() == {"reference": "LOT-7K4M-Q2XP", "last_name": "Martin"}

staff = AuthenticatedClient(base_url="http://127.0.0.1:8080", token="pst_example")
public = Client(base_url="http://127.0.0.1:8080")
for operation in (create_scheme.sync_detailed, check_balance.sync_detailed, reimbursements_sepa.sync_detailed):
    assert callable(operation)
print("python client: typed calls build")
