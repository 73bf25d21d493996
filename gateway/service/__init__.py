"""The service layer: what a request does between the pipeline and the ERPs. Calling an ERP
within the request's deadline, binding documents to stable gateway ids, resolving an order's
customer, and turning ERP results into canonical resources.

Not HTTP (see `gateway.api`) and not policy (see `gateway.pipeline`).
"""
