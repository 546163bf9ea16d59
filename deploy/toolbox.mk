# The SRE toolbox: Prometheus rules, man page, bash completion, Debian package.
# Included by the Makefile; `make toolbox-check` runs the fast, root-free checks.
.PHONY: toolbox-check rules-test man-test completion-test dashboard-check
toolbox-check: rules-test man-test completion-test dashboard-check

RULES := deploy/prometheus/zmqscope-rules.yml
MANPAGE := docs/zmqscope.8

rules-test:
	promtool check rules $(RULES)
	promtool test rules deploy/prometheus/zmqscope-rules.test.yml

man-test: $(BUILD)/zmqscope
	/usr/bin/python3 tests/toolbox/test_manpage.py $(BUILD)/zmqscope $(MANPAGE)

completion-test: $(BUILD)/zmqscope
	tests/toolbox/test_completion.sh $(BUILD)/zmqscope

# The dashboard is generated; its queries are run by tests/integration/test_toolbox.py.
dashboard-check:
	/usr/bin/python3 deploy/grafana/make_dashboard.py --check

# A binary package from the built tree (scripts/build-deb.sh); lintian must be clean.
DEB = $(BUILD)/zmqscope_$(VERSION)_$(shell dpkg --print-architecture).deb
.PHONY: deb
deb: $(BUILD)/zmqscope
	./scripts/build-deb.sh $(BUILD) $(VERSION)
	lintian --fail-on error,warning $(DEB)
