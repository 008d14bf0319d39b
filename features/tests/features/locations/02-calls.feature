Feature: The calls made to the Location API, and their order per operation

  Every call is a GET accepting JSON; ids are percent-encoded path segments; each operation stops
  at the first error.

  Background:
    Given the Location API serves the retail estate

  @locations-2
  Scenario: Reading stock with its children looks the location up, then fetches the whole subtree
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    And the Location API received exactly:
      | /locations/Store-001          |
      | /locations/Store-001/children |

  @locations-2
  Scenario: Reading stock without children fetches the location itself with depth=1
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response status is 200
    And the Location API received exactly:
      | /locations/Store-001                  |
      | /locations/Store-001/children?depth=1 |

  @locations-2
  Scenario: Reading stock at an unknown location stops after the first call
    When I send GET /locations/Atlantis/products/SKU1
    Then the response is 404 with body {"status":"LocationNotFound"}
    And the Location API received exactly /locations/Atlantis

  @locations-2
  Scenario Outline: A write at a tracked location makes exactly the calls it needs: <request>
    When I <request> at "Store-001"
    Then the response status is 201
    And the Location API received exactly <calls>

    Examples:
      | request           | calls                                 |
      | record a sale     | /locations/Store-001                  |
      | record a delivery | /locations/Store-001                  |
      | count stock       | /locations/Store-001                  |
      | move stock        | /locations/Store-001, /locations/store3 |

  @locations-2 @api-9
  Scenario: A sale at an untracked location also asks for its path, to redirect to the tracked ancestor
    When I send POST /locations/Untracked-1/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Store-001/products/SKU1/sales"
    And the Location API received exactly:
      | /locations/Untracked-1      |
      | /locations/Untracked-1/path |

  @locations-2 @api-9
  Scenario: A delivery at an untracked location without a tracked ancestor asks for its path, then refuses
    When I send POST /locations/Returns%20Desk/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"SKU1","quantity":1}]}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}
    And the Location API received exactly:
      | /locations/Returns%20Desk      |
      | /locations/Returns%20Desk/path |

  @locations-2
  Scenario: A count looks the location up once and accepts it whatever its roles
    When I send POST /locations/Untracked-1/products/SKU1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the Location API received exactly /locations/Untracked-1

  @locations-2 @api-7
  Scenario: A move from an untracked source stops after the source's path: the destination is never looked up
    When I send POST /locations/Untracked-1/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Central Store","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the Location API received exactly:
      | /locations/Untracked-1      |
      | /locations/Untracked-1/path |

  @locations-2 @api-7
  Scenario: A move to an untracked destination is refused without asking for the destination's path
    When I send POST /locations/Central%20Store/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Untracked-1","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}
    And the Location API received exactly:
      | /locations/Central%20Store |
      | /locations/Untracked-1     |

  @locations-2 @api-7
  Scenario: A move to an unknown destination looks up the source, then the destination
    When I send POST /locations/Store-001/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Atlantis","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}
    And the Location API received exactly /locations/Store-001, /locations/Atlantis

  @locations-2 @api-7
  Scenario: A move onto its own source is refused before any call
    When I send POST /locations/Store-001/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the Location API received no calls

  @locations-2 @api-10
  Scenario: Readiness asks the Location API's health endpoint, once
    When I send GET /health/ready
    Then the response is 200 with body {"status":"UP","checks":[{"name":"locationApi","status":"UP"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}
    And the Location API received exactly /health

  @locations-2
  Scenario: Ids are sent as percent-encoded path segments, UTF-8 bytes and spaces included
    When I send GET /locations/Caf%C3%A9%20Nord/products/SKU1
    Then the response status is 200
    And the Location API received exactly:
      | /locations/Caf%C3%A9%20Nord          |
      | /locations/Caf%C3%A9%20Nord/children |

  @locations-2
  Scenario Outline: Only A-Z a-z 0-9 - . _ ~ are sent as they are, every other byte as %XX: <id>
    When I send GET /locations/<id>/products/SKU1
    Then the response is 404 with body {"status":"LocationNotFound"}
    And the Location API received exactly /locations/<sent>

    Examples:
      | id              | sent                  |
      | a%2Fb%3Fc%23d%25 | a%2Fb%3Fc%23d%25      |
      | Az09-._~        | Az09-._~              |
      | a+b:c@d!e       | a%2Bb%3Ac%40d%21e     |
      | %C3%B8l         | %C3%B8l               |

  @locations-2
  Scenario: Every call is a GET that accepts JSON
    When I send GET /locations/Central%20Store/products/SKU1
    And I send POST /locations/Till%201/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    And I send GET /health/ready
    Then the Location API received exactly:
      | /locations/Central%20Store          |
      | /locations/Central%20Store/children |
      | /locations/Till%201                 |
      | /locations/Till%201/path            |
      | /health                             |
    And every call to the Location API was a GET with the header "Accept" set to "application/json"
