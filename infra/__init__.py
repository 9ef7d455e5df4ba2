"""The CDK app that deploys Tenantry. It points at functions/ but never imports it."""
