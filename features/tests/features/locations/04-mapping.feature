Feature: How Location API outcomes map to Stock API answers

  Background:
    Given the Location API serves the retail estate

  @locations-4
  Scenario Outline: The location answering <status> makes <calls> call(s) and answers <answer>
    Given the Location API always answers /locations/Store-001 with <status>
    When I send GET /locations/Store-001/products/SKU1
    Then the response is <answer> with body <body>
    And the Location API received <calls> calls in all

    Examples:
      | status | calls | answer | body                                     |
      | 404    | 1     | 404    | {"status":"LocationNotFound"}            |
      | 500    | 3     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 502    | 3     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 503    | 3     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 504    | 3     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 501    | 3     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 505    | 3     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 400    | 1     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 401    | 1     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 403    | 1     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 409    | 1     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 429    | 1     | 502    | {"status":"UpstreamServiceUnavailable"}  |
      | 301    | 1     | 502    | {"status":"UpstreamServiceUnavailable"}  |

  @locations-4 @locations-5
  Scenario: A Location API slower than the request timeout is retried, then answers 502
    Given the service setting STOCK_LOCATION_API_REQUEST_TIMEOUT is "200ms"
    And the Location API takes 1s to answer /locations/Store-001
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 3 calls to /locations/Store-001

  @locations-4
  Scenario: A slow answer within the request timeout is used
    Given the Location API takes 300ms to answer /locations/Store-001
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    And the Location API received 1 call to /locations/Store-001

  @locations-4
  Scenario: A refused connection answers 502
    Given the Location API is down
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}

  @locations-4 @locations-5
  Scenario: While the circuit breaker is open the answer is 502 and the Location API is not contacted
    Given the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "3"
    And the Location API always answers /locations/Store-001 with 503
    When I send GET /locations/Store-001/products/SKU1
    And the Location API calls so far are set aside
    And the Location API answers everything normally again
    And I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received no calls

  @locations-4
  Scenario Outline: A failing subtree call maps like any other: <target> answering <status>
    Given the Location API always answers <target> with <status>
    When I send GET <request>
    Then the response is <answer> with body <body>
    And the Location API received <calls> calls to <target>

    Examples:
      | target                                | status | request                                                    | calls | answer | body                                    |
      | /locations/Store-001/children         | 500    | /locations/Store-001/products/SKU1                         | 3     | 502    | {"status":"UpstreamServiceUnavailable"} |
      | /locations/Store-001/children?depth=1 | 503    | /locations/Store-001/products/SKU1?includeChildren=false   | 3     | 502    | {"status":"UpstreamServiceUnavailable"} |
      | /locations/Store-001/children         | 403    | /locations/Store-001/products/SKU1                         | 1     | 502    | {"status":"UpstreamServiceUnavailable"} |
      | /locations/Store-001/children         | 404    | /locations/Store-001/products/SKU1                         | 1     | 404    | {"status":"LocationNotFound"}           |

  @locations-4
  Scenario Outline: A failing path call maps like any other: <status>
    Given the Location API always answers /locations/Untracked-1/path with <status>
    When I send POST /locations/Untracked-1/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is <answer> with body <body>
    And the Location API received <calls> calls to /locations/Untracked-1/path

    Examples:
      | status | calls | answer | body                                    |
      | 500    | 3     | 502    | {"status":"UpstreamServiceUnavailable"} |
      | 429    | 1     | 502    | {"status":"UpstreamServiceUnavailable"} |
      | 404    | 1     | 404    | {"status":"LocationNotFound"}           |

  @locations-4
  Scenario: A failing destination lookup of a move answers 502
    Given the Location API always answers /locations/store3 with 500
    When I send POST /locations/Store-001/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":0,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 1 call to /locations/Store-001
    And the Location API received 3 calls to /locations/store3

  @locations-4 @api-10
  Scenario Outline: Any health answer but 2xx reports the Location API down: <status>
    Given the Location API always answers /health with <status>
    When I send GET /health/ready
    Then the response is 503 with body {"status":"DOWN","checks":[{"name":"locationApi","status":"DOWN"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}

    Examples:
      | status |
      | 500    |
      | 429    |
