-- submit.sql with a policy whose only difference is its summary template.
select awe.submit('bench.two_stage_summary', 'doc', 'b-' || :client_id || '-' || (random() * 1e12)::bigint,
                  '{"amount": 1200, "submitter": "zed", "note": "benchmark"}', 'zed');
