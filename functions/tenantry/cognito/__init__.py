"""Small Lambda functions around the Cognito user pool: the token trigger and the OAuth front (metadata, DCR).

They run without the dependency layer (boto3 comes with the Lambda runtime) and import
nothing else from tenantry, so sign-in and registration stay fast and independent of the MCP function.
"""
