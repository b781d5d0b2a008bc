#!/usr/bin/env python3
"""Writes a year (2026) of store activity as `storeflow simulate` input lines.

Usage: scripts/gen-year-events.py [CUSTOMERS] > year.jsonl
Deterministic (fixed seed): the same arguments give the same file.
"""
import datetime
import json
import random
import sys

customers = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
random.seed(7)
items = [
    {"product_id": "linen-shirt", "title": "Linen shirt", "quantity": 1, "price": 65.0},
    {"product_id": "coffee-beans-1kg", "title": "Beans", "quantity": 1, "price": 24.0},
]
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
events = []
for c in range(customers):
    email = f"c{c}@example.com"
    t = start + datetime.timedelta(minutes=random.randint(0, 60 * 24 * 300))
    country = random.choice(["US", "GB", "FR", "JP", "AU", "DE", "CA", "BR"])
    birthday = f"{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
    events.append((t, "customer_created", email, {"first_name": "C", "country": country, "birthday": birthday}))
    if random.random() < 0.7:
        events.append((t, "consent_changed", email, {"channel": "email", "status": "subscribed"}))
    for s in range(random.randint(3, 40)):
        t = t + datetime.timedelta(hours=random.randint(1, 24 * 20))
        if t.year > 2026:
            break
        r = random.random()
        if r < 0.5:
            events.append((t, "product_viewed", email, {"product_id": "linen-shirt", "title": "Linen shirt"}))
        elif r < 0.7:
            events.append((t, "added_to_cart", email, {"line_items": items}))
        elif r < 0.85:
            ck = f"ck{c}-{s}"
            events.append((t, "checkout_started", email, {"checkout_id": ck, "line_items": items, "total": 89.0}))
            if random.random() < 0.5:
                order = {"order_id": f"o{c}-{s}", "checkout_id": ck, "line_items": items, "total": 89.0}
                events.append((t + datetime.timedelta(minutes=20), "order_placed", email, order))
        else:
            events.append((t, "order_placed", email, {"order_id": f"p{c}-{s}", "line_items": items, "total": 89.0}))
            delivered = {"order_id": f"p{c}-{s}", "status": "delivered"}
            events.append((t + datetime.timedelta(days=3), "shipment_updated", email, delivered))
events.sort(key=lambda e: e[0])
for i, (t, kind, email, props) in enumerate(events):
    at = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"id": f"y{i}", "shop": "s", "type": kind, "occurred_at": at, "customer": {"email": email}, "properties": props}
    print(json.dumps({"at": at, "event": event}))
