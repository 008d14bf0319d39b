Feature: Metrics on /metrics: idempotency counters, request latency and the Location API client

  Background:
    Given the Location API serves the retail estate

  @observability-3 @domain-8
  Scenario: A replay counts as a hit, a new write as a miss (also covered by @api-11)
    Given I note the idempotency counters
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    And I send the same request again
    Then the idempotency counters rose by 1 hit and 1 miss

  @observability-3
  Scenario: Request latency is a histogram per route, method and status
    When I send GET /locations/Store-001/products/SKU1
    And I send GET /locations/Atlantis/products/SKU1
    And I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the metrics have a histogram stock_http_request_duration_seconds with labels {method="GET",route="/locations/{location}/products/{product}",status="200"}
    And the metrics have a histogram stock_http_request_duration_seconds with labels {method="GET",route="/locations/{location}/products/{product}",status="404"}
    And the metrics have a histogram stock_http_request_duration_seconds with labels {method="POST",route="/locations/{location}/products/{product}/sales",status="201"}

  @observability-3 @locations-5
  Scenario: Location API attempts are counted per call and outcome, retries per call
    Given the Location API answers /locations/Store-001 with 500, 503 before answering normally
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response status is 200
    And the metric stock_location_api_requests_total with labels {call="location",outcome="5xx"} is 2
    And the metric stock_location_api_requests_total with labels {call="location",outcome="2xx"} is 1
    And the metric stock_location_api_requests_total with labels {call="children",outcome="2xx"} is 1
    And the metric stock_location_api_retries_total with labels {call="location"} is 2

  @observability-3 @locations-6
  Scenario: Answers served from the cache are counted
    Given the Location API answers /locations/Store-001 with the header "Cache-Control: max-age=3600"
    When I send GET /locations/Store-001/products/SKU1 3 times
    Then the metric stock_location_api_cache_hits_total with labels {call="location"} is 2
    And the metric stock_location_api_requests_total with labels {call="location"} is 1

  @observability-3 @locations-5
  Scenario: The breaker's state is a gauge, and rejected attempts are counted
    Given the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "3"
    And the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1
    Then the metric stock_location_api_circuit_breaker_state is 1
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the metric stock_location_api_circuit_breaker_rejections_total with labels {call="location"} is 1
