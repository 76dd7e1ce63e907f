select awe.submit('bench.two_stage', 'doc', 'b-' || :client_id || '-' || (random() * 1e12)::bigint,
                  '{"amount": 1200, "submitter": "zed", "note": "benchmark"}', 'zed');
