"""The gRPC interface (aiproxy.v1.AIProxyService): a thin layer over the completion service.

`server.grpc_server_create` builds the grpc.aio server; the servicer parses, calls the
service and renders; `errors` is the one place errors become gRPC statuses.
"""
