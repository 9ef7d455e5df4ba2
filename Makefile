# Every habit has one target; each delegates to ./dev, which bootstraps its own tools.
.PHONY: help local test lint bench mutants synth e2e tour pr

help:   ## list the targets
	@grep -E '^[a-z0-9]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:[^#]*## /\t/' | expand -t 8

local:  ## run the local MCP server (moto + API Gateway emulation)
	./dev local
test:   ## the whole test suite (unit, integration, infra, security)
	./dev test
lint:   ## ruff + mypy
	./dev lint
bench:  ## cold start, warm latency and AWS calls per tool call
	./dev bench
mutants: ## promise-breaking one-line changes the tests must catch (slow; not in pr)
	./dev mutants
synth:  ## synthesize the CDK app offline (cdk-nag runs at every synth)
	./dev synth
e2e:    ## opt-in: against a deployed stack with AWS credentials
	./dev e2e
tour:   ## a walk through isolation against the running local server
	./dev tour
pr: lint test  ## what CI runs
